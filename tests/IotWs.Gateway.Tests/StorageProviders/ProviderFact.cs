using IotWs.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace IotWs.Gateway.Tests.StorageProviders;

/// <summary>
/// A contract test: run once per provider subclass. On the PostgreSQL subclass it is skipped with the reason where
/// PostgreSQL is not installed, except under CI=true (then it runs and fails).
/// </summary>
[XunitTestCaseDiscoverer("IotWs.Gateway.Tests.StorageProviders.ProviderFactDiscoverer", "IotWs.Gateway.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ProviderFactAttribute : FactAttribute;

/// <summary>Makes each contract test's case know the class it runs in, so that only the PostgreSQL one can skip.</summary>
public sealed class ProviderFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        [new ProviderTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

/// <summary>A test case of the contract suite; skipped on PostgreSQL when <see cref="PostgresServer.SkipReason"/> says so.</summary>
public sealed class ProviderTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer", error: true)]
    public ProviderTestCase()
    {
    }

    public ProviderTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod method)
        : base(sink, display, options, method)
    {
    }

    protected override string? GetSkipReason(IAttributeInfo factAttribute) =>
        typeof(PostgresStorageContractTests).IsAssignableFrom(TestMethod.TestClass.Class.ToRuntimeType())
            ? PostgresServer.SkipReason ?? base.GetSkipReason(factAttribute)
            : base.GetSkipReason(factAttribute);
}
