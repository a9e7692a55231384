using IotWs.Gateway.Connections;
using IotWs.Protocol;

namespace IotWs.Gateway.Identity;

/// <summary>What a WebSocket session may do beyond reading, by role (docs/access.md is the whole table).</summary>
public static class SessionRights
{
    /// <summary>data events of any dataType and streams: a device (about itself) or a technician or admin; never a viewer.</summary>
    public static bool MayWrite(this ClientSession session) => session.IsDevice || Roles.CanOperate(session.Role ?? "");

    /// <summary>The refusal a viewer gets for a write.</summary>
    public static string WriteRefusal(this ClientSession session, string what) =>
        $"Role '{session.Role}' may not send {what}: a device token or a technician or admin key may.";

    /// <summary>A device subscribes only under devices/{its own id}/ (it may not watch the fleet); every other role anywhere.</summary>
    public static bool MaySubscribe(this ClientSession session, string filter) =>
        !session.IsDevice || Topics.IsOwnDeviceTopic(session.DeviceId!, filter);
}
