var app = WebApplication.CreateBuilder(args).Build();
app.MapGet("/healthz", () => "ok");
app.Run();

/// <summary>Entry point, visible to tests.</summary>
public partial class Program;
