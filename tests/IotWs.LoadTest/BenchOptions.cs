using System.Globalization;

namespace IotWs.LoadTest;

/// <summary>"--name value" options of a benchmark command.</summary>
internal sealed class BenchOptions
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"Unexpected argument '{args[i]}'.");
            var name = args[i][2..];
            o._values[name] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return o;
    }

    /// <summary>A copy with some options set (the suite runs the single benchmarks with its own shapes).</summary>
    public BenchOptions With(params (string Name, string Value)[] values)
    {
        var o = new BenchOptions();
        foreach (var (k, v) in _values) o._values[k] = v;
        foreach (var (k, v) in values) o._values[k] = v;
        return o;
    }

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public string String(string name, string fallback) => _values.GetValueOrDefault(name, fallback);
    public bool Flag(string name) => _values.ContainsKey(name);
    public int[] Ints(string name, int[] fallback) =>
        _values.TryGetValue(name, out var v) ? v.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : fallback;
}
