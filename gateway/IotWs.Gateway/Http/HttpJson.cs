using System.Text.Json;
using System.Text.Json.Serialization;
using IotWs.Gateway.Status;
using Microsoft.AspNetCore.Mvc;

namespace IotWs.Gateway.Http;

/// <summary>
/// The bodies that go through ASP.NET Core's JSON serializer (typed results), with metadata compiled by the source
/// generator. <see cref="AddCompiledHttpJson"/> makes it the only resolver in every build, not only a trimmed one, so a
/// result type missing here fails its test instead of a published gateway.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(StatusApi.Caller))]
[JsonSerializable(typeof(SessionGrant))]
// Every error answer (Api/ProblemResponses), and its extensions' values, written by their runtime type
// ({"error": "timeout"}, the request's traceId).
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(JsonElement))]
// Route parameters, for the schemas of the OpenAPI document (Gateway:ApiReference).
[JsonSerializable(typeof(long))]
internal sealed partial class HttpJson : JsonSerializerContext
{
    /// <summary>
    /// Replaces the reflection-based resolver, which a trimmed publish turns off anyway.
    /// </summary>
    public static IServiceCollection AddCompiledHttpJson(IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Clear();
            o.SerializerOptions.TypeInfoResolverChain.Add(Default);
        });
}

/// <summary>POST /api/session: the session token a login link was exchanged for, and whose it is.</summary>
public sealed record SessionGrant(string Token, string Name, string Role, DateTimeOffset? ExpiresAt);
