using System.Device.Gpio;
using System.Globalization;
using Iot.Device.DHTxx;

namespace IotWs.Gateway.LocalSensors;

/// <summary>One DHT22 as the gateway reads it: one read per call, never retried inside.</summary>
public interface IDhtReader : IDisposable
{
    /// <summary>True with °C and %RH; false with the reason when the read failed.</summary>
    bool TryRead(out double temperature, out double humidity, out string? error);
}

/// <summary>Opens the reader a local sensor's driver names (the seam where tests put a hardware fake).</summary>
public interface ILocalSensorHardware
{
    IDhtReader Open(LocalSensorOptions sensor);
}

/// <summary>Where the gpio driver gets its GpioController: the board's own by default (libgpiod on a Pi).</summary>
public class GpioControllerFactory
{
    public virtual GpioController Create() => new();
}

/// <summary>gpio → <see cref="GpioDht22Reader"/>, iio → <see cref="IioDhtReader"/>.</summary>
internal sealed class LocalSensorHardware(GpioControllerFactory controllers) : ILocalSensorHardware
{
    public IDhtReader Open(LocalSensorOptions sensor) => sensor.IsIio
        ? new IioDhtReader(sensor.IioDevicePath)
        : new GpioDht22Reader(sensor.GpioPin!.Value, controllers);
}

/// <summary>
/// The thin adapter over Iot.Device.DHTxx.Dht22 (user-space bit-banging on System.Device.Gpio). The pin is opened
/// on the first read, so a gateway started where there is no GPIO (a PC) keeps running and counts failed reads.
/// </summary>
internal sealed class GpioDht22Reader(int pin, GpioControllerFactory controllers) : IDhtReader
{
    private Dht22? _dht;

    public bool TryRead(out double temperature, out double humidity, out string? error)
    {
        temperature = humidity = double.NaN;
        if (_dht is null)
        {
            GpioController? controller = null;
            try
            {
                controller = controllers.Create();
                // The binding's constructor opens the pin and waits 1 s for the sensor to settle.
                _dht = new Dht22(pin, controller, shouldDispose: true)
                {
                    // Binding 4.2.0 serves a good frame again for MinTimeBetweenReads' milliseconds part (0.999 s here), so
                    // the humidity asked right after the temperature comes from the same frame. The 2 s between reads are
                    // kept by the device core, not by this cache; a failed read is never cached.
                    MinTimeBetweenReads = TimeSpan.FromMilliseconds(1999),
                };
            }
            catch (Exception e)
            {
                controller?.Dispose();
                error = $"GPIO {pin} could not be opened: {e.Message}";
                return false;
            }
        }
        // Asking for humidity after a failed temperature would read the sensor again at once: stop at the first failure.
        if (!_dht.TryReadTemperature(out var t) || !_dht.TryReadHumidity(out var h))
        {
            error = $"no valid frame from the DHT22 on GPIO {pin} (no answer or bad checksum)";
            return false;
        }
        temperature = t.DegreesCelsius;
        humidity = h.Percent;
        error = null;
        return true;
    }

    public void Dispose()
    {
        _dht?.Dispose();
        _dht = null;
    }
}

/// <summary>
/// The Linux kernel's dht11 IIO driver (dtoverlay=dht11,gpiopin=N; it serves the DHT22 too): two files in
/// milli-units. A bad frame reads as EIO or ETIMEDOUT; the kernel itself answers reads within 2 s from its cache.
/// </summary>
internal sealed class IioDhtReader(string deviceDirectory) : IDhtReader
{
    public const string TemperatureFile = "in_temp_input";
    public const string HumidityFile = "in_humidityrelative_input";

    public bool TryRead(out double temperature, out double humidity, out string? error)
    {
        temperature = humidity = double.NaN;
        if (!Directory.Exists(deviceDirectory))
        {
            error = $"no IIO device at {deviceDirectory} (is dtoverlay=dht11,gpiopin=N in /boot/firmware/config.txt?)";
            return false;
        }
        if (!TryMilli(TemperatureFile, out var t, out error) || !TryMilli(HumidityFile, out var h, out error)) return false;
        temperature = t;
        humidity = h;
        return true;
    }

    private bool TryMilli(string file, out double value, out string? error)
    {
        value = double.NaN;
        var path = Path.Combine(deviceDirectory, file);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{path}: {e.Message}";
            return false;
        }
        if (!long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var milli))
        {
            error = $"{path} holds '{Shorten(text.Trim())}', not a number in milli-units";
            return false;
        }
        value = milli / 1000.0;
        error = null;
        return true;
    }

    private static string Shorten(string s) => s.Length <= 20 ? s : s[..20] + "…";

    public void Dispose()
    {
    }
}
