using IotWs.Gateway.LocalSensors;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>
/// The readers on their own: the gpio one runs the real Iot.Device.DHTxx.Dht22 on a fake GpioDriver, the iio one reads a
/// fake sysfs folder of real files.
/// </summary>
public sealed class DhtReaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "iotws-iio-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// A good frame decoded by the binding. A 0 bit is ~1 µs wide in the fake, so a pause of the test's thread inside one
    /// (a busy CI machine) can spoil a frame as it would on the wire; such a read fails its checksum and is tried again
    /// after the binding's cache (1 s), at most three times.
    /// </summary>
    private static (bool Ok, double T, double H, string? Error) ReadWell(GpioDht22Reader reader, FakeDht22Driver driver, byte[] frame)
    {
        for (var i = 0; ; i++)
        {
            driver.Answers.Enqueue(frame);
            var ok = reader.TryRead(out var t, out var h, out var error);
            if (ok || i == 2) return (ok, t, h, error);
            Thread.Sleep(1100);
        }
    }

    [Fact]
    public void Gpio_reader_decodes_a_frame_through_the_Dht22_binding_with_one_hardware_read_for_both_values()
    {
        var driver = new FakeDht22Driver();
        var controllers = new FakeGpioControllers(driver);
        using var reader = new GpioDht22Reader(4, controllers);

        var (ok, t, h, error) = ReadWell(reader, driver, FakeDht22Driver.Frame(45.2, 21.3));
        Assert.True(ok, error);
        Assert.Equal(21.3, t, 3);
        Assert.Equal(45.2, h, 3);
        Assert.Null(error);
        // Temperature and humidity came from one start pulse per attempt: humidity was served from the same frame.
        Assert.True(driver.Starts <= 3);
        Assert.Equal(1, controllers.Created);
    }

    [Fact]
    public void Gpio_reader_decodes_below_zero()
    {
        var driver = new FakeDht22Driver();
        using var reader = new GpioDht22Reader(17, new FakeGpioControllers(driver));
        var (ok, t, h, error) = ReadWell(reader, driver, FakeDht22Driver.Frame(88.8, -12.5));
        Assert.True(ok, error);
        Assert.Equal(-12.5, t, 3);
        Assert.Equal(88.8, h, 3);
    }

    [Fact]
    public void Gpio_reader_fails_on_a_bad_checksum_and_on_silence_with_one_hardware_read_each()
    {
        var driver = new FakeDht22Driver();
        using var reader = new GpioDht22Reader(4, new FakeGpioControllers(driver));

        driver.Answers.Enqueue(FakeDht22Driver.Frame(45.2, 21.3, badChecksum: true));
        Assert.False(reader.TryRead(out var t, out var h, out var error));
        Assert.True(double.IsNaN(t) && double.IsNaN(h));
        Assert.Equal("no valid frame from the DHT22 on GPIO 4 (no answer or bad checksum)", error);
        Assert.Equal(1, driver.Starts);

        // Silence is never cached by the binding: asking for humidity after it would read the sensor a second time at once.
        Thread.Sleep(1100);
        driver.Answers.Enqueue(null);
        Assert.False(reader.TryRead(out _, out _, out error));
        Assert.Contains("no answer", error);
        Assert.Equal(2, driver.Starts);
    }

    [Fact]
    public void Gpio_reader_reports_a_pin_that_cannot_be_opened_and_tries_to_open_it_again_on_the_next_read()
    {
        var controllers = new ThrowingControllers();
        using var reader = new GpioDht22Reader(4, controllers);
        Assert.False(reader.TryRead(out _, out _, out var error));
        Assert.Equal("GPIO 4 could not be opened: no /dev/gpiochip0 here", error);
        Assert.False(reader.TryRead(out _, out _, out _));
        Assert.Equal(2, controllers.Attempts);
    }

    private sealed class ThrowingControllers : GpioControllerFactory
    {
        public int Attempts { get; private set; }

        public override System.Device.Gpio.GpioController Create()
        {
            Attempts++;
            throw new IOException("no /dev/gpiochip0 here");
        }
    }

    [Fact]
    public void Iio_reader_reads_milli_units_from_the_kernel_drivers_files()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "in_temp_input"), "21300\n");
        File.WriteAllText(Path.Combine(_dir, "in_humidityrelative_input"), "45200\n");
        using var reader = new IioDhtReader(_dir);
        Assert.True(reader.TryRead(out var t, out var h, out var error), error);
        Assert.Equal(21.3, t, 6);
        Assert.Equal(45.2, h, 6);

        File.WriteAllText(Path.Combine(_dir, "in_temp_input"), "-4100\n");
        Assert.True(reader.TryRead(out t, out _, out _));
        Assert.Equal(-4.1, t, 6);
    }

    [Fact]
    public void Iio_reader_fails_with_the_reason_on_a_missing_device_a_missing_file_and_garbage()
    {
        using var missing = new IioDhtReader(_dir);
        Assert.False(missing.TryRead(out _, out _, out var error));
        Assert.Equal($"no IIO device at {_dir} (is dtoverlay=dht11,gpiopin=N in /boot/firmware/config.txt?)", error);

        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "in_temp_input"), "21300\n");
        Assert.False(missing.TryRead(out _, out _, out error));
        Assert.StartsWith(Path.Combine(_dir, "in_humidityrelative_input") + ":", error);

        File.WriteAllText(Path.Combine(_dir, "in_humidityrelative_input"), "oops\n");
        Assert.False(missing.TryRead(out _, out _, out error));
        Assert.Equal($"{Path.Combine(_dir, "in_humidityrelative_input")} holds 'oops', not a number in milli-units", error);
    }
}
