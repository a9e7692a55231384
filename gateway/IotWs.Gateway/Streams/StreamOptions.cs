using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Streams;

/// <summary>Settings of section "Gateway:Streams": limits on the seed's stream_start / stream_data / stream_end.</summary>
public sealed class StreamOptions
{
    public const string Section = "Gateway:Streams";

    /// <summary>Largest chunk: decoded bytes for file_upload, bytes of the JSON "data" value otherwise.</summary>
    public int MaxChunkBytes { get; set; } = 64 * 1024;

    /// <summary>Largest whole stream, counted the same way.</summary>
    public long MaxStreamBytes { get; set; } = 10 * 1024 * 1024;

    public int MaxConcurrentPerConnection { get; set; } = 4;

    /// <summary>Total bytes the uploads directory may hold (finished files plus uploads in progress); past it file_upload is refused with payload_too_large.</summary>
    public long MaxUploadBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Where file_upload streams are saved; empty means "uploads" under the data directory.</summary>
    public string UploadDirectory { get; set; } = "";
}

internal sealed class StreamOptionsValidator : IValidateOptions<StreamOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamOptions o)
    {
        var errors = new List<string>();
        if (o.MaxChunkBytes < 1) errors.Add($"{StreamOptions.Section}:MaxChunkBytes must be at least 1 (got {o.MaxChunkBytes}).");
        if (o.MaxStreamBytes < 1) errors.Add($"{StreamOptions.Section}:MaxStreamBytes must be at least 1 (got {o.MaxStreamBytes}).");
        if (o.MaxUploadBytes < 1) errors.Add($"{StreamOptions.Section}:MaxUploadBytes must be at least 1 (got {o.MaxUploadBytes}).");
        if (o.MaxConcurrentPerConnection is < 1 or > 1000)
            errors.Add($"{StreamOptions.Section}:MaxConcurrentPerConnection must be between 1 and 1000 (got {o.MaxConcurrentPerConnection}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
