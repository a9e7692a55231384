using System.Diagnostics.Metrics;

namespace IotWs.Gateway.Observability;

/// <summary>
/// The gateway's one Meter, "IotWs.Gateway". Most of its instruments observe counters the gateway keeps anyway
/// (<see cref="GatewayInstruments"/>); the ones here are recorded where the thing happens.
/// </summary>
public sealed class GatewayMeter
{
    public const string Name = "IotWs.Gateway";

    // A group commit takes ~1 ms on an idle SSD and can take a second or more on a worn SD card.
    private static readonly double[] CommitBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Histogram<double> _commitDuration;

    public GatewayMeter(IMeterFactory factory)
    {
        Meter = factory.Create(Name);
        _commitDuration = Meter.CreateHistogram(
            "iotws.readings.commit.duration", "s", "How long one group commit of readings to the database took.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CommitBuckets });
        RpcCallsFinished = Meter.CreateCounter<long>("iotws.rpc.calls.finished", "{call}", "Calls to devices that reached a final status, by status.");
    }

    public Meter Meter { get; }

    internal Counter<long> RpcCallsFinished { get; }

    /// <summary>The readings writer finished a commit (successful or not) that took <paramref name="elapsed"/>.</summary>
    public void CommitFinished(TimeSpan elapsed) => _commitDuration.Record(elapsed.TotalSeconds);
}
