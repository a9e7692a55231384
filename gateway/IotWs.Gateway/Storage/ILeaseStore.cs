namespace IotWs.Gateway.Storage;

/// <summary>A lease as stored: who holds it and until when (it may have expired).</summary>
public sealed record LeaseRow(string Name, string Holder, DateTimeOffset ExpiresAt);

/// <summary>
/// Named leases in the shared database: how gateways sharing it agree which one does a piece of work that must run
/// once (alert evaluation, retention, offline detection of a dead node's devices). Taking and renewing are one atomic
/// upsert, so two gateways can never both hold a lease; a holder that stops renewing loses it when it expires.
/// Times are the caller's clock (the gateways' clocks must agree to well within a lease's length).
/// </summary>
public interface ILeaseStore
{
    /// <summary>
    /// Takes the lease when it is free or expired by <paramref name="now"/>, or renews it when <paramref name="holder"/>
    /// already holds it; it is then held until <paramref name="expiresAt"/>. False when another holder's lease is still running.
    /// </summary>
    bool TryAcquire(string name, string holder, DateTimeOffset now, DateTimeOffset expiresAt);

    /// <summary>Gives the lease up if <paramref name="holder"/> holds it (a clean stop), so another gateway takes it at once.</summary>
    void Release(string name, string holder);

    /// <summary>The lease as stored, expired or not; null when nobody ever took it or it was released.</summary>
    LeaseRow? Get(string name);
}
