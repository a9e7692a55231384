namespace IotWs.Gateway.Identity;

/// <summary>
/// Sessions outside the WebSocket registry that were opened with a credential (the embedded MQTT broker's clients).
/// <see cref="IdentityWatch"/> calls <see cref="CloseRevoked"/> whenever it sweeps the WebSocket sessions, so a
/// revoked key, or an ended login session, is cut off everywhere by the same poll.
/// </summary>
public interface IRevocableSessions
{
    /// <summary>Closes every session whose credential <paramref name="cache"/> no longer holds as current. Must not block.</summary>
    void CloseRevoked(IdentityCache cache);
}
