using IotWs.Gateway.Identity;
using Microsoft.VisualBasic.FileIO;

namespace IotWs.Gateway.Cli;

/// <summary>One device of an import file.</summary>
internal sealed record DeviceRow(int Line, string DeviceId, string? Name, string? Location);

/// <summary>
/// The <c>devices import</c> file: RFC 4180 CSV (fields in double quotes may hold commas, line breaks and doubled
/// quotes) with columns <c>deviceId[,name[,location]]</c>, an optional header line whose first field is
/// <c>deviceId</c>, and comment lines starting with <c>#</c>. Every row is checked before anything is added.
/// </summary>
internal static class DeviceCsv
{
    public static IReadOnlyList<DeviceRow> Read(string path, IdentityStore identities, out List<string> problems)
    {
        problems = [];
        var rows = new List<DeviceRow>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        using var parser = new TextFieldParser(path, System.Text.Encoding.UTF8)
        {
            TextFieldType = FieldType.Delimited,
            Delimiters = [","],
            HasFieldsEnclosedInQuotes = true,
            TrimWhiteSpace = true,
            CommentTokens = ["#"],
        };
        var first = true;
        while (!parser.EndOfData)
        {
            var line = (int)parser.LineNumber;
            string[] fields;
            try
            {
                fields = parser.ReadFields() ?? [];
            }
            catch (MalformedLineException e)
            {
                problems.Add($"{e.LineNumber}: not valid CSV (check the double quotes): {parser.ErrorLine}");
                continue;
            }
            if (fields.Length == 0 || fields.All(f => f.Length == 0)) continue;
            if (first && fields[0].Equals("deviceId", StringComparison.OrdinalIgnoreCase))
            {
                first = false;
                continue;
            }
            first = false;
            if (fields.Length > 3)
            {
                problems.Add($"{line}: {fields.Length} columns; expected deviceId[,name[,location]] (quote a field that holds a comma).");
                continue;
            }
            var row = new DeviceRow(line, fields[0], Optional(fields, 1), Optional(fields, 2));
            if (!IdentityStore.IsValidId(row.DeviceId))
                problems.Add($"{line}: '{row.DeviceId}' is not a valid device id: use 1-64 letters, digits, '_', '.', ':' or '-'.");
            else if (seen.TryGetValue(row.DeviceId, out var earlier))
                problems.Add($"{line}: device '{row.DeviceId}' is listed twice (also on line {earlier}).");
            else if (identities.FindDevice(row.DeviceId) is not null)
                problems.Add($"{line}: device '{row.DeviceId}' already exists; use 'devices rotate-token {row.DeviceId}' for a new token.");
            else
                seen[row.DeviceId] = line;
            rows.Add(row);
        }
        if (problems.Count == 0 && rows.Count == 0) problems.Add("1: no devices in the file.");
        return rows;
    }

    private static string? Optional(string[] fields, int index) => fields.Length > index && fields[index].Length > 0 ? fields[index] : null;
}
