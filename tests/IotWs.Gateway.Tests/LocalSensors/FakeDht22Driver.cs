using System.Device.Gpio;
using System.Diagnostics;
using IotWs.Gateway.LocalSensors;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>
/// A DHT22 on a GPIO line, below System.Device.Gpio's driver abstraction (a hardware fake). When the host releases the line
/// after its start pulse (output → input), the next reads play the sensor's answer: the 80 µs low/high preamble, then 40 bits,
/// each a low followed by a high that lasts ~70 µs for a 1 (the Read call returning it busy-waits) and no time for a 0.
/// The binding measures each high with a Stopwatch, so the frame is decoded by its real code. Levels follow the read calls,
/// not the clock, so only a 0 bit is exposed to scheduling (a pause of 30 µs inside two reads turns it into a 1: checksum error).
/// </summary>
internal sealed class FakeDht22Driver : GpioDriver
{
    private readonly object _gate = new();
    private readonly Queue<(PinValue Level, int SpinMicros)> _steps = new();
    private PinMode _mode = PinMode.Input;
    private int _starts;

    /// <summary>What the sensor answers to each start pulse; null = no answer (the line stays high). Empty: a 21.3 °C, 45.2 % frame.</summary>
    public Queue<byte[]?> Answers { get; } = new();

    /// <summary>Start pulses seen: each is one read of the sensor by the binding.</summary>
    public int Starts
    {
        get { lock (_gate) return _starts; }
    }

    /// <summary>A DHT22 frame: humidity and temperature in tenths, sign in bit 7 of the temperature's high byte, checksum.</summary>
    public static byte[] Frame(double humidity, double temperature, bool badChecksum = false)
    {
        var rh = (int)Math.Round(humidity * 10);
        var t = (int)Math.Round(Math.Abs(temperature) * 10);
        var b = new byte[5];
        b[0] = (byte)(rh >> 8);
        b[1] = (byte)rh;
        b[2] = (byte)((t >> 8) | (temperature < 0 ? 0x80 : 0));
        b[3] = (byte)t;
        b[4] = (byte)(b[0] + b[1] + b[2] + b[3] + (badChecksum ? 1 : 0));
        return b;
    }

    protected override int PinCount => 28;

    protected override void OpenPin(int pinNumber)
    {
    }

    protected override void ClosePin(int pinNumber)
    {
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_gate)
        {
            if (mode == PinMode.Output)
            {
                _starts++;
                _steps.Clear();
            }
            else if (_mode == PinMode.Output)
            {
                var answer = Answers.Count > 0 ? Answers.Dequeue() : Frame(45.2, 21.3);
                if (answer is not null) Play(answer);
            }
            _mode = mode;
        }
    }

    // Each "while (Read() == level)" loop of the binding consumes the read that ends it: the steps are laid out for that.
    private void Play(byte[] frame)
    {
        _steps.Enqueue((PinValue.Low, 0));   // response low (ends on the next high)
        _steps.Enqueue((PinValue.High, 0));  // response high
        _steps.Enqueue((PinValue.Low, 0));   // ends the response high
        for (var i = 0; i < 40; i++)
        {
            var one = ((frame[i / 8] >> (7 - (i % 8))) & 1) == 1;
            _steps.Enqueue((PinValue.High, 0));             // ends the bit's low
            _steps.Enqueue((PinValue.High, one ? 70 : 0));  // the measured high
            _steps.Enqueue((PinValue.Low, 0));              // ends it
        }
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_gate) return _mode;
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => true;

    protected override PinValue Read(int pinNumber)
    {
        (PinValue Level, int SpinMicros) step;
        lock (_gate)
        {
            if (_mode == PinMode.Output || _steps.Count == 0) return PinValue.High;
            step = _steps.Dequeue();
        }
        if (step.SpinMicros > 0)
        {
            var until = Stopwatch.GetTimestamp() + step.SpinMicros * Stopwatch.Frequency / 1_000_000;
            while (Stopwatch.GetTimestamp() < until)
            {
            }
        }
        return step.Level;
    }

    protected override void Write(int pinNumber, PinValue value)
    {
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the DHT22 binding polls the line");

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback) =>
        throw new NotSupportedException("the DHT22 binding polls the line");

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) =>
        throw new NotSupportedException("the DHT22 binding polls the line");
}

/// <summary>The gpio driver's controller on a <see cref="FakeDht22Driver"/>.</summary>
internal sealed class FakeGpioControllers(FakeDht22Driver driver) : GpioControllerFactory
{
    public int Created { get; private set; }

    public override GpioController Create()
    {
        Created++;
        return new GpioController(driver);
    }
}

/// <summary>A hardware fake one level up, for exact schedules: every read answers as <see cref="Works"/> says, and is timed on the gateway's clock.</summary>
internal sealed class ScriptedDht(TimeProvider time) : ILocalSensorHardware, IDhtReader
{
    private readonly object _gate = new();
    private readonly List<DateTimeOffset> _reads = [];

    /// <summary>Whether read n (0-based) works.</summary>
    public Func<int, bool> Works { get; set; } = _ => true;
    public double Temperature { get; set; } = 21.34;
    public double Humidity { get; set; } = 45.26;
    public List<LocalSensorOptions> Opened { get; } = [];

    public IReadOnlyList<DateTimeOffset> Reads
    {
        get { lock (_gate) return [.. _reads]; }
    }

    public IDhtReader Open(LocalSensorOptions sensor)
    {
        Opened.Add(sensor);
        return this;
    }

    public bool TryRead(out double temperature, out double humidity, out string? error)
    {
        int n;
        lock (_gate)
        {
            n = _reads.Count;
            _reads.Add(time.GetUtcNow());
        }
        if (!Works(n))
        {
            temperature = humidity = double.NaN;
            error = "scripted: no answer";
            return false;
        }
        temperature = Temperature;
        humidity = Humidity;
        error = null;
        return true;
    }

    /// <summary>How often the board released the sensor (reboot; stop).</summary>
    public int Releases { get; private set; }

    public void Dispose() => Releases++;
}
