using System.Text.Json.Nodes;

namespace IotWs.Gateway.Storage;

/// <summary>What /api/status and the readiness probe say about the database, whichever provider holds it.</summary>
public interface IStorageInfo
{
    /// <summary>"sqlite" or "postgres".</summary>
    string Provider { get; }

    /// <summary>The "database" section of /api/status: where the data is and how big it is.</summary>
    JsonObject Describe();

    /// <summary>
    /// Whether the database takes a write now: a write transaction is begun and rolled back (nothing is written).
    /// Waits at most <paramref name="timeout"/> for a lock. Null when it does, else why not.
    /// </summary>
    string? WhyNotWritable(TimeSpan timeout);
}
