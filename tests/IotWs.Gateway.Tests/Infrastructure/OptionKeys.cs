using System.Globalization;
using System.Reflection;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>The configuration keys of an options class with their defaults, as the docs write them (for doc tests).</summary>
public static class OptionKeys
{
    /// <summary>
    /// Each bindable property as "Section:Name" with its default ("(none)" for null, TimeSpan as 00:00:02);
    /// option objects of the same namespace recurse.
    /// </summary>
    public static IEnumerable<(string Key, string Default)> Of(string prefix, object options)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var key = $"{prefix}:{property.Name}";
            var value = property.GetValue(options);
            if (value is not null && property.PropertyType.Namespace == options.GetType().Namespace && property.PropertyType.IsClass && property.PropertyType != typeof(string))
            {
                foreach (var nested in Of(key, value)) yield return nested;
                continue;
            }

            yield return (key, value switch
            {
                null => "(none)",
                bool b => b ? "true" : "false",
                TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString()!,
            });
        }
    }
}
