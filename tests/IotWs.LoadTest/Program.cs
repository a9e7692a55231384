using IotWs.LoadTest;

// Benchmarks run by hand (see docs/performance.md); every run is bounded in time and talks to loopback only.
var command = args.Length > 0 ? args[0] : "help";
if (command == "baseline-server") return await BaselineServer.RunAsync(args[1..]);
var options = BenchOptions.Parse(args.Skip(1).ToArray());
return command switch
{
    "ingest" => await IngestBench.RunAsync(options),
    "idle" => await IdleBench.RunAsync(options),
    "idle-profile" => await IdleProfile.RunAsync(options),
    "memory" => await MemoryBench.RunAsync(options),
    "startup" => await StartupBench.RunAsync(options),
    "fanout" => await FanoutBench.RunAsync(options),
    "fanout-vs-mqtt" => await BrokerFanoutBench.RunAsync(options),
    "suite" => await SuiteBench.RunAsync(options),
    "storage" => StorageBench.Run(options),
    "store" => await StoreBench.RunAsync(options),
    "cluster" => await ClusterBench.RunAsync(options),
    _ => Usage(),
};

static int Usage()
{
    Console.WriteLine("""
        usage: dotnet run -c Release --project tests/IotWs.LoadTest -- <command> [options]
          ingest   [--devices 100,1000] [--seconds 20] [--warmup 3] [--window 32] [--rate R (paced, readings/s in total)] [--no-baseline]
          idle     [--connections 1000,5000] [--parallel 100]
          memory   [--presets project,server-datas,project@<dir of another build>,…] [--devices 1000] [--window 4] [--seconds 10] [--connections 1000,5000] [--settle 5] [--breakdown]  (ingest + memory per GC setting; --breakdown: RSS by kind and GC heap)
          startup  [--builds a/IotWs.Gateway,b/IotWs.Gateway.dll,…] [--runs 5] [--settle 10]  (time to /healthz and idle RSS of published builds)
          fanout   [--devices 1000] [--dashboards 10] [--seconds 20] [--warmup 3]
          fanout-vs-mqtt [--publishers 1000] [--subscribers 10] [--rates 2000,4000,…] [--step-seconds 5] [--max-p99-ms 1000]   (needs /usr/sbin/mosquitto)
          suite    [--seconds 10] [--warmup 3] [--shapes 100x8,1000x4,1000x32] [--before <gateway build dir>] [--paced-rate 2000]
                   [--trickle 50] [--trickle-devices 100,10] [--skip shapes,window1,paced,trickle,dashboard,mqtt] [--rates …] [--step-seconds 5]
                   everything of issue 16 in one run, ratios against a baseline measured in the same run, summary table at the end
          storage  [--devices 1000] [--rows 200000] [--prefill 200000] [--commit 1000] [--variants none,memory,deferred,unique,keys,unique-only]
                   [--sync normal|full] [--cache-mb 2] [--merge-run 16]
          store    [--providers sqlite,postgres-copy,postgres-insert] [--devices 100,1000] [--rows 300000] [--commit 1000] [--repeat 1] [--sync full|normal]
                   (postgres-*: a durable PostgreSQL started for the run; ratios against the first provider named)
          cluster  [--devices 100,1000] [--window 32] [--seconds 8] [--warmup 2] [--skip ingest,sqlite,postgres,two,plain,latency]
                   [--latency-devices 1000] [--dashboards 10]   (needs PostgreSQL and /usr/sbin/mosquitto; started for the run)
                   issue 14 in one run: ingest on 1 node SQLite, 1 node PostgreSQL, 2 nodes PostgreSQL (cluster mode, and plain), each against
                   the baseline measured in the same run; device on node A → dashboard on node B; summary table at the end
        common:    [--gateway <build dir>] (another gateway build than this one's) [--gc project|server|workstation] [--set Storage:CommitInterval=00:00:00.050,…]  (gateway settings, section Gateway)
        """);
    return 2;
}
