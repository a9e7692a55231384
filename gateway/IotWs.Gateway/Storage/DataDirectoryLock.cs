namespace IotWs.Gateway.Storage;

/// <summary>
/// One gateway per data directory: an exclusive lock on <c>gateway.lock</c>, held while the gateway runs and released
/// by the operating system when the process ends, however it ends. The holder writes its process id to
/// <c>gateway.pid</c> so that a second gateway can say who holds the directory. CLI verbs never take it.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string LockFileName = "gateway.lock";
    public const string PidFileName = "gateway.pid";

    private readonly FileStream _lock;

    private DataDirectoryLock(FileStream lockFile, string directory)
    {
        _lock = lockFile;
        Directory = directory;
    }

    public string Directory { get; }

    /// <summary>Takes the lock, or throws <see cref="DataDirectoryInUseException"/> naming the process that holds it.</summary>
    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        var directory = Path.GetFullPath(dataDirectory);
        System.IO.Directory.CreateDirectory(directory);
        var lockPath = Path.Combine(directory, LockFileName);
        var pidPath = Path.Combine(directory, PidFileName);
        FileStream stream;
        try
        {
            // FileShare.None is flock(LOCK_EX) on Unix and a sharing lock on Windows: a second open fails at once.
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(lockPath))
        {
            throw new DataDirectoryInUseException(directory, ReadPid(pidPath));
        }
        File.WriteAllText(pidPath, Environment.ProcessId + "\n");
        return new DataDirectoryLock(stream, directory);
    }

    public void Dispose()
    {
        try
        {
            File.Delete(Path.Combine(Directory, PidFileName));
        }
        catch (IOException)
        {
            // A stale pid file only ever names a process that no longer holds the lock.
        }
        _lock.Dispose();
    }

    private static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>Another gateway holds the data directory.</summary>
public sealed class DataDirectoryInUseException(string directory, int? pid)
    : Exception($"data directory {directory} is in use by {(pid is { } p ? $"process {p}" : "another process")}; stop that gateway or choose another --data-dir.")
{
    public int? Pid => pid;
}
