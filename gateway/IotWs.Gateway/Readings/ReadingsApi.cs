using IotWs.Gateway.Http;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IotWs.Gateway.Readings;

/// <summary>GET /api/devices, /api/devices/{id} and /api/devices/{id}/readings (viewer and up).</summary>
public static class ReadingsApi
{
    public static IEndpointRouteBuilder MapReadingsApi(this IEndpointRouteBuilder app)
    {
        var devices = app.MapGroup("/api/devices").RequireAuthorization(AccessPolicies.Viewer);
        devices.MapGet("", async (DeviceDirectory directory, CancellationToken ct) =>
            TypedResults.Bytes(WireJson.ToBytes(await directory.ListAsync(ct)), "application/json"));

        devices.MapGet("/{id}", async Task<Results<FileContentHttpResult, ProblemHttpResult>> (string id, DeviceDirectory directory, CancellationToken ct) =>
            await directory.FindAsync(id, ct) is { } device
                ? TypedResults.Bytes(WireJson.ToBytes(device), "application/json")
                : UnknownDevice(id));

        devices.MapGet("/{id}/readings", async Task<Results<FileContentHttpResult, ProblemHttpResult>> (string id, HttpRequest request, DeviceDirectory directory, IReadingStore store, TimeProvider time, CancellationToken ct) =>
        {
            var q = request.Query;
            if (!HistoryQuery.TryParse(q["from"], q["to"], q["resolution"], q["limit"], time.GetUtcNow(), HistoryQuery.MaxLimit, out var query, out var error))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad history query", detail: error);
            }
            var format = string.IsNullOrWhiteSpace(q["format"]) ? "json" : q["format"].ToString();
            if (format is not ("json" or "csv"))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad history query", detail: $"'format' must be json or csv; got '{format}'.");
            }
            if (!directory.Exists(id)) return UnknownDevice(id);
            var csv = format == "csv";
            if (query.Resolution == Resolution.Raw)
            {
                var rows = await store.ReadingsAsync(id, query.From, query.To, query.Limit, ct);
                return csv ? Csv(HistoryFormat.ReadingsCsv(rows), id, "raw") : TypedResults.Bytes(HistoryFormat.ReadingsJson(rows), "application/json");
            }
            var buckets = await store.RollupsAsync(id, query.Resolution, query.From, query.To, query.Limit, ct);
            var name = query.Resolution == Resolution.Minute ? "1m" : "1h";
            return csv ? Csv(HistoryFormat.RollupsCsv(buckets), id, name) : TypedResults.Bytes(HistoryFormat.RollupsJson(buckets), "application/json");
        });
        return app;
    }

    private static ProblemHttpResult UnknownDevice(string id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown device", detail: $"No device '{id}' is provisioned.");

    private static FileContentHttpResult Csv(string text, string id, string resolution) =>
        TypedResults.File(System.Text.Encoding.UTF8.GetBytes(text), "text/csv; charset=utf-8", $"{id}-{resolution}.csv");
}
