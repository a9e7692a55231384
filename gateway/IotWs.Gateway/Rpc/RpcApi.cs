using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Http;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IotWs.Gateway.Rpc;

/// <summary>
/// POST /api/devices/{id}/rpc, GET /api/rpc/{id} and GET /api/rpc?deviceId=&amp;limit= (technician and admin: the audit log says who called what).
/// Every answer about a call carries the call object; the HTTP status says only whether it is finished:
/// 200 finished (whatever the outcome, including failed/device_offline), 202 persistent and not finished yet,
/// 504 finished by a timeout.
/// </summary>
public static class RpcApi
{
    public const int DefaultListLimit = 100;
    public const int MaxListLimit = 1000;
    private const long MaxBodyBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapRpcApi(this IEndpointRouteBuilder app)
    {
        // Handlers read the body and query themselves: a malformed request from a caller without a key must get 401, not 400.
        var technician = app.MapGroup("/api").RequireAuthorization(AccessPolicies.Technician);
        technician.MapPost("/devices/{id}/rpc", PostAsync);
        technician.MapGet("/rpc/{id}", Get);
        technician.MapGet("/rpc", List);
        return app;
    }

    private static async Task<Results<ContentHttpResult, ProblemHttpResult>> PostAsync(string id, HttpContext http)
    {
        var calls = http.RequestServices.GetRequiredService<DeviceCalls>();
        try
        {
            calls.EnsureDeviceExists(id);
            var request = await ReadRequestAsync(id, http, calls);
            var call = await calls.CallAsync(request, new RpcCaller(http.User.Principal(), http.User.Role()), http.RequestAborted);
            var status = StatusFor(call);
            if (status == StatusCodes.Status202Accepted) http.Response.Headers.Location = "/api/rpc/" + call.Id;
            return CallResult(call.ToJson(), status);
        }
        catch (RpcException e)
        {
            return Problem(e);
        }
    }

    /// <summary>504 for a timeout, 202 while a (persistent) call is queued or sent, otherwise 200.</summary>
    internal static int StatusFor(RpcCall call) =>
        call.Status == RpcStatuses.Timeout ? StatusCodes.Status504GatewayTimeout
        : call.IsSettled ? StatusCodes.Status200OK
        : StatusCodes.Status202Accepted;

    private static Results<ContentHttpResult, ProblemHttpResult> Get(string id, HttpContext http)
    {
        var call = http.RequestServices.GetRequiredService<DeviceCalls>().Get(id);
        return call is null
            ? Problem(new RpcException(RpcException.NotFound, $"No call '{id}'."))
            : CallResult(call.ToJson(), StatusCodes.Status200OK);
    }

    private static Results<ContentHttpResult, ProblemHttpResult> List(HttpContext http)
    {
        var query = http.Request.Query;
        var deviceId = query["deviceId"].ToString() is { Length: > 0 } d ? d : null;
        var limit = DefaultListLimit;
        if (query["limit"].ToString() is { Length: > 0 } text && (!int.TryParse(text, out limit) || limit < 1 || limit > MaxListLimit))
        {
            return Problem(new RpcException(ErrorCodes.ValidationFailed, $"limit must be an integer between 1 and {MaxListLimit}."));
        }
        var calls = http.RequestServices.GetRequiredService<DeviceCalls>().List(deviceId, limit);
        var array = new JsonArray();
        foreach (var call in calls) array.Add((JsonNode)call.ToJson());
        return CallResult(array, StatusCodes.Status200OK);
    }

    private static async Task<DeviceCallRequest> ReadRequestAsync(string deviceId, HttpContext http, DeviceCalls calls)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
        JsonDocument document;
        try
        {
            document = await WireMessage.ParseAsync(http.Request.Body, (int)MaxBodyBytes, WireMessage.DocumentOptions, http.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new RpcException(ErrorCodes.ValidationFailed, "The body is not valid JSON: " + e.Message);
        }
        using (document)
        {
            return calls.Parse(deviceId, document.RootElement);
        }
    }

    private static ContentHttpResult CallResult(JsonNode body, int status) =>
        TypedResults.Text(WireJson.ToText(body), "application/json", Encoding.UTF8, status);

    private static ProblemHttpResult Problem(RpcException e)
    {
        var (status, title) = e.Code switch
        {
            RpcException.NotFound => (StatusCodes.Status404NotFound, "Not found"),
            RpcException.IdempotencyConflict => (StatusCodes.Status409Conflict, "idempotencyKey already used"),
            RpcException.QueueFull => (StatusCodes.Status429TooManyRequests, "Too many queued calls"),
            _ => (StatusCodes.Status400BadRequest, "Invalid call"),
        };
        return TypedResults.Problem(statusCode: status, title: title, detail: e.Message, extensions: new Dictionary<string, object?> { ["error"] = e.Code });
    }
}
