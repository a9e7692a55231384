using IotWs.Gateway.Configuration;
using IotWs.Gateway.Status;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.LocalSensors;

/// <summary>Registers Gateway:LocalSensors (DHT22 sensors wired to the Pi itself); nothing runs when the list is empty.</summary>
public static class LocalSensorServices
{
    public static IServiceCollection AddLocalSensors(this IServiceCollection services)
    {
        services.AddOptions<LocalSensorsOptions>().BindConfiguration(GatewayOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LocalSensorsOptions>, LocalSensorsOptionsValidator>();
        services.AddSingleton<GpioControllerFactory>();
        services.AddSingleton<ILocalSensorHardware, LocalSensorHardware>();
        services.AddSingleton<LocalSensorService>();
        services.AddHostedService(sp => sp.GetRequiredService<LocalSensorService>());
        services.AddSingleton<IStatusContributor, LocalSensorsStatus>();
        return services;
    }
}
