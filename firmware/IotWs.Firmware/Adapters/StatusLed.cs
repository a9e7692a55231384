using System.Device.Gpio;
using System.Threading;

namespace IotWs.Firmware.Adapters
{
    /// <summary>The status LED: on while connected to the gateway, off otherwise, blinking to identify.</summary>
    public class StatusLed
    {
        private readonly GpioPin _pin;
        private readonly object _lock = new object();
        private bool _blinking;

        /// <summary>Opens the LED's GPIO as an output.</summary>
        public StatusLed(int pinNumber)
        {
            GpioController gpio = new GpioController();
            _pin = gpio.OpenPin(pinNumber, PinMode.Output);
            _pin.Write(PinValue.Low);
        }

        /// <summary>Shows the connection state unless an identify blink is running.</summary>
        public void Show(bool connected)
        {
            lock (_lock)
            {
                if (_blinking) return;
                _pin.Write(connected ? PinValue.High : PinValue.Low);
            }
        }

        /// <summary>Blinks at 5 Hz for about the given time, on its own thread so the loop keeps running.</summary>
        public void Blink(int durationMs)
        {
            lock (_lock)
            {
                if (_blinking) return;
                _blinking = true;
            }
            new Thread(() =>
            {
                for (int elapsed = 0; elapsed < durationMs; elapsed += 100)
                {
                    _pin.Toggle();
                    Thread.Sleep(100);
                }
                lock (_lock)
                {
                    _blinking = false;
                }
            }).Start();
        }
    }
}
