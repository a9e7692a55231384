using System.Xml.Linq;
using IotWs.Gateway.Configuration;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>
/// The single-Pi key ring: one file per key in &lt;dataDir&gt;/keys (mode 0700), as every install so far has it, so
/// existing keys stay readable. Kept out of iotws.db on purpose: a copy of the database alone does not decrypt its
/// encrypted fields.
/// </summary>
public sealed class SqliteDataProtectionKeyStore : IDataProtectionKeyStore
{
    private readonly Lazy<FileSystemXmlRepository> _files;

    public SqliteDataProtectionKeyStore(IOptions<GatewayOptions> options, ILoggerFactory loggers) =>
        _files = new Lazy<FileSystemXmlRepository>(() => new FileSystemXmlRepository(KeysDirectory(options.Value.DataDirectory), loggers));

    public IReadOnlyCollection<XElement> GetAllElements() => _files.Value.GetAllElements();

    public void StoreElement(XElement element, string friendlyName) => _files.Value.StoreElement(element, friendlyName);

    /// <summary>Nothing to take: gateway.lock already keeps the data directory, and its keys/, to one gateway.</summary>
    public IDisposable LockKeyCreation() => NoLock.Instance;

    private sealed class NoLock : IDisposable
    {
        public static readonly NoLock Instance = new();

        public void Dispose()
        {
        }
    }

    private static DirectoryInfo KeysDirectory(string dataDirectory)
    {
        var path = Path.GetFullPath(Path.Combine(dataDirectory, "keys"));
        return OperatingSystem.IsWindows()
            ? Directory.CreateDirectory(path)
            : Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
