using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace IotWs.Protocol.Tests;

/// <summary>One use of something nanoFramework's stable line cannot run, at file:line.</summary>
public sealed record SubsetViolation(string File, int Line, string Rule, string Code)
{
    public override string ToString() => $"{File}:{Line}: {Rule}: {Code}";
}

/// <summary>
/// Finds C# that the nanoFramework 1.x subset does not allow (see the team's nanoframework.md):
/// generic types (also Action&lt;T&gt; and Func&lt;T,TResult&gt;: whether the pre-generics runtime runs a
/// generic delegate that returns a value is unverified, so device code uses named delegates), generic declarations, async/await,
/// Task, LINQ, nullable value types, tuples, records, init accessors, dynamic and Span.
/// Syntax only, so it also checks the nanoFramework adapters that cannot be compiled here.
/// </summary>
public static class SubsetChecker
{
    public static IReadOnlyList<SubsetViolation> Check(string source, string path)
    {
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview), path);
        var walker = new Walker(path);
        walker.Visit(tree.GetRoot());
        return walker.Violations;
    }

    private sealed class Walker(string path) : CSharpSyntaxWalker
    {
        private static readonly HashSet<string> SpanTypes = ["Span", "ReadOnlySpan", "Memory", "ReadOnlyMemory"];
        private static readonly HashSet<string> TaskTypes = ["Task", "ValueTask", "IAsyncEnumerable", "IAsyncDisposable"];

        public List<SubsetViolation> Violations { get; } = [];

        private void Report(SyntaxNode node, string rule)
        {
            var line = node.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
            var code = node.ToString();
            if (code.Length > 60) code = code[..60] + "…";
            Violations.Add(new SubsetViolation(path, line, rule, code.ReplaceLineEndings(" ")));
        }

        public override void VisitUsingDirective(UsingDirectiveSyntax node)
        {
            var name = node.Name?.ToString() ?? "";
            if (name == "System.Linq" || name.StartsWith("System.Linq.", StringComparison.Ordinal)) Report(node, "LINQ");
            if (name == "System.Threading.Tasks") Report(node, "Task");
            base.VisitUsingDirective(node);
        }

        public override void VisitGenericName(GenericNameSyntax node)
        {
            var name = node.Identifier.Text;
            if (SpanTypes.Contains(name)) Report(node, "Span");
            else if (TaskTypes.Contains(name)) Report(node, "Task");
            else if (name is "Action" or "Func" or "Predicate" or "Comparison" or "Converter" or "EventHandler") Report(node, "generic delegate");
            else Report(node, "generic type");
            base.VisitGenericName(node);
        }

        public override void VisitTypeParameterList(TypeParameterListSyntax node)
        {
            Report(node.Parent ?? node, "generic declaration");
            base.VisitTypeParameterList(node);
        }

        public override void VisitIdentifierName(IdentifierNameSyntax node)
        {
            var name = node.Identifier.Text;
            if (TaskTypes.Contains(name)) Report(node, "Task");
            else if (SpanTypes.Contains(name)) Report(node, "Span");
            else if (name == "dynamic" && node.IsVar == false && node.Parent is not MemberAccessExpressionSyntax) Report(node, "dynamic");
            base.VisitIdentifierName(node);
        }

        public override void VisitMethodDeclaration(MethodDeclarationSyntax node)
        {
            CheckAsync(node, node.Modifiers);
            base.VisitMethodDeclaration(node);
        }

        public override void VisitLocalFunctionStatement(LocalFunctionStatementSyntax node)
        {
            CheckAsync(node, node.Modifiers);
            base.VisitLocalFunctionStatement(node);
        }

        public override void VisitParenthesizedLambdaExpression(ParenthesizedLambdaExpressionSyntax node)
        {
            CheckAsync(node, node.Modifiers);
            base.VisitParenthesizedLambdaExpression(node);
        }

        public override void VisitSimpleLambdaExpression(SimpleLambdaExpressionSyntax node)
        {
            CheckAsync(node, node.Modifiers);
            base.VisitSimpleLambdaExpression(node);
        }

        public override void VisitAnonymousMethodExpression(AnonymousMethodExpressionSyntax node)
        {
            CheckAsync(node, node.Modifiers);
            base.VisitAnonymousMethodExpression(node);
        }

        private void CheckAsync(SyntaxNode node, SyntaxTokenList modifiers)
        {
            if (modifiers.Any(SyntaxKind.AsyncKeyword)) Report(node, "async");
        }

        public override void VisitAwaitExpression(AwaitExpressionSyntax node)
        {
            Report(node, "await");
            base.VisitAwaitExpression(node);
        }

        public override void VisitQueryExpression(QueryExpressionSyntax node)
        {
            Report(node, "LINQ");
            base.VisitQueryExpression(node);
        }

        public override void VisitNullableType(NullableTypeSyntax node)
        {
            Report(node, "nullable value type");
            base.VisitNullableType(node);
        }

        public override void VisitTupleType(TupleTypeSyntax node)
        {
            Report(node, "tuple");
            base.VisitTupleType(node);
        }

        public override void VisitTupleExpression(TupleExpressionSyntax node)
        {
            Report(node, "tuple");
            base.VisitTupleExpression(node);
        }

        public override void VisitParenthesizedVariableDesignation(ParenthesizedVariableDesignationSyntax node)
        {
            Report(node, "tuple");
            base.VisitParenthesizedVariableDesignation(node);
        }

        public override void VisitRecordDeclaration(RecordDeclarationSyntax node)
        {
            Report(node, "record");
            base.VisitRecordDeclaration(node);
        }

        public override void VisitAccessorDeclaration(AccessorDeclarationSyntax node)
        {
            if (node.IsKind(SyntaxKind.InitAccessorDeclaration)) Report(node, "init");
            base.VisitAccessorDeclaration(node);
        }
    }
}
