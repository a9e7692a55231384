using IotWs.Gateway.Configuration;

namespace IotWs.Gateway.Connections;

/// <summary>A connection's token bucket, and the count of recent rejections that leads to 4429.</summary>
internal sealed class RateLimiter
{
    private readonly double _rate;
    private readonly double _burst;
    private readonly int _rejectionsBeforeClose;
    private readonly TimeSpan _window;
    private double _tokens;
    private long _lastTicks;
    private int _rejections;
    private long _windowStartTicks;

    public RateLimiter(RateLimitOptions options, long nowTicks)
    {
        _rate = options.MessagesPerSecond;
        _burst = options.Burst;
        _rejectionsBeforeClose = options.RejectionsBeforeClose;
        _window = options.RejectWindow;
        _tokens = _burst;
        _lastTicks = nowTicks;
        _windowStartTicks = nowTicks;
    }

    public enum Verdict { Accept, Reject, Close }

    /// <summary>Decides for one message arriving at nowTicks (TimeProvider timestamp ticks per second given).</summary>
    public Verdict Take(long nowTicks, long ticksPerSecond)
    {
        var elapsed = (double)(nowTicks - _lastTicks) / ticksPerSecond;
        _lastTicks = nowTicks;
        _tokens = Math.Min(_burst, _tokens + elapsed * _rate);
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return Verdict.Accept;
        }
        if ((double)(nowTicks - _windowStartTicks) / ticksPerSecond > _window.TotalSeconds)
        {
            _windowStartTicks = nowTicks;
            _rejections = 0;
        }
        return ++_rejections >= _rejectionsBeforeClose ? Verdict.Close : Verdict.Reject;
    }
}
