using IotWs.Firmware.Core;
using IotWs.Gateway.Identity;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.LocalSensors;

/// <summary>The list Gateway:LocalSensors: DHT22 sensors wired to the Pi the gateway runs on (empty by default).</summary>
public sealed class LocalSensorsOptions
{
    /// <summary>Bound from section "Gateway", of which only LocalSensors is read here.</summary>
    public List<LocalSensorOptions> LocalSensors { get; set; } = [];
}

/// <summary>One entry of Gateway:LocalSensors.</summary>
public sealed class LocalSensorOptions
{
    public const string Gpio = "gpio";
    public const string Iio = "iio";
    public const string DefaultIioDevice = "/sys/bus/iio/devices/iio:device0";

    /// <summary>The device the readings belong to; registered at start when missing.</summary>
    public string DeviceId { get; set; } = "";

    /// <summary>BCM (GPIO) number of the DATA line, not the header's physical pin: GPIO 4 is physical pin 7.</summary>
    public int? GpioPin { get; set; }

    /// <summary>gpio: Iot.Device.DHTxx.Dht22 on System.Device.Gpio; iio: the kernel's dht11 driver (dtoverlay=dht11).</summary>
    public string Driver { get; set; } = Gpio;

    /// <summary>iio only: the IIO device folder holding in_temp_input and in_humidityrelative_input.</summary>
    public string? IioDevice { get; set; }

    /// <summary>Device name when it is registered; default "Pi DHT22 on GPIO n".</summary>
    public string? Name { get; set; }

    /// <summary>Location label of the device and of its readings.</summary>
    public string? Location { get; set; }

    /// <summary>How often the sensor is read (2 s to 1 h).</summary>
    public TimeSpan ReadingInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a failed read is tried again before the next reading is due (0 to 10).</summary>
    public int Retries { get; set; } = 2;

    /// <summary>Delay before such a retry; at least 2 s (the DHT22's minimum between reads).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Heartbeat interval announced to presence; default Gateway:HeartbeatInterval.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    public bool IsIio => string.Equals(Driver, Iio, StringComparison.OrdinalIgnoreCase);

    public string IioDevicePath => string.IsNullOrWhiteSpace(IioDevice) ? DefaultIioDevice : IioDevice;

    public string DisplayName => Name ?? (GpioPin is { } pin ? $"Pi DHT22 on GPIO {pin}" : "Pi DHT22") + (IsIio ? " (kernel driver)" : "");
}

/// <summary>Start-time checks of Gateway:LocalSensors: every mistake is named with its key.</summary>
internal sealed class LocalSensorsOptionsValidator : IValidateOptions<LocalSensorsOptions>
{
    /// <summary>BCM numbers of the Pi's 40-pin header.</summary>
    public const int MaxGpioPin = 27;

    /// <summary>The state file's name under &lt;data dir&gt;/localsensors, as FileStore.ForDevice makes it.</summary>
    public static string StateFileName(string deviceId)
    {
        var invalid = Path.GetInvalidFileNameChars();
        return new string([.. deviceId.Select(c => invalid.Contains(c) || c == '.' ? '_' : c)]) + ".json";
    }

    public ValidateOptionsResult Validate(string? name, LocalSensorsOptions options)
    {
        var errors = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var pins = new HashSet<int>();
        var files = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.LocalSensors.Count; i++)
        {
            var s = options.LocalSensors[i];
            var key = $"Gateway:LocalSensors:{i}";
            if (string.IsNullOrWhiteSpace(s.DeviceId))
                errors.Add($"{key}:DeviceId is required.");
            else if (!IdentityStore.IsValidId(s.DeviceId))
                errors.Add($"{key}:DeviceId '{s.DeviceId}' is not a valid device id: use 1-64 letters, digits, '_', '.', ':' or '-'.");
            else if (!ids.Add(s.DeviceId))
                errors.Add($"{key}:DeviceId '{s.DeviceId}' is listed twice.");
            else if (!files.Add(StateFileName(s.DeviceId)))
                errors.Add($"{key}:DeviceId '{s.DeviceId}' would share its state file {StateFileName(s.DeviceId)} with another local sensor (ids differing only in '.' and '_'); rename one.");

            var gpio = string.Equals(s.Driver, LocalSensorOptions.Gpio, StringComparison.OrdinalIgnoreCase);
            if (!gpio && !s.IsIio)
                errors.Add($"{key}:Driver must be gpio (Iot.Device.DHTxx.Dht22) or iio (the kernel's dht11 driver), not '{s.Driver}'.");
            if (s.GpioPin is { } pin)
            {
                if (pin is < 0 or > MaxGpioPin)
                    errors.Add($"{key}:GpioPin {pin} is not a GPIO of the Pi's header: use the BCM number 0-{MaxGpioPin} (GPIO 4 is physical pin 7).");
                else if (!pins.Add(pin))
                    errors.Add($"{key}:GpioPin {pin} is used by another local sensor.");
            }
            else if (gpio)
            {
                errors.Add($"{key}:GpioPin is required for driver gpio: the BCM number of the DATA line (GPIO 4 is physical pin 7).");
            }
            if (s.IsIio && string.IsNullOrWhiteSpace(s.IioDevicePath))
                errors.Add($"{key}:IioDevice must name the IIO device folder.");

            var reading = (long)s.ReadingInterval.TotalMilliseconds;
            if (DeviceSettings.CheckReadingInterval(reading) is not null)
                errors.Add($"{key}:ReadingInterval {s.ReadingInterval} must be between 00:00:02 and 01:00:00 (the DHT22 is read at most every 2 s).");
            if (s.Retries is < 0 or > 10)
                errors.Add($"{key}:Retries {s.Retries} must be between 0 and 10.");
            if (s.RetryDelay < TimeSpan.FromMilliseconds(DeviceSettings.MinReadingIntervalMs) || s.RetryDelay > TimeSpan.FromHours(1))
                errors.Add($"{key}:RetryDelay {s.RetryDelay} must be between 00:00:02 and 01:00:00: the DHT22 needs 2 s between reads.");
            if (s.HeartbeatInterval is { } hb && DeviceSettings.CheckHeartbeatInterval((long)hb.TotalMilliseconds) is not null)
                errors.Add($"{key}:HeartbeatInterval {hb} must be between 00:00:05 and 00:10:00.");
            if (s.Location is { Length: > 256 })
                errors.Add($"{key}:Location is longer than 256 characters.");
            if (s.Name is { Length: > 256 })
                errors.Add($"{key}:Name is longer than 256 characters.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
