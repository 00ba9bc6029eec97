using System.Text;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class EvidenceJsonTests
{
    [Theory]
    [InlineData("""{"b":2,"a":1,"c":{"z":true,"y":null}}""", """{"a":1,"b":2,"c":{"y":null,"z":true}}""")]
    [InlineData("""[ 1.0, 4.50, 2e-3, 1E21, 1e20, 0.000001, 1e-7, -0.0, 333333333.33333329, 100 ]""",
        """[1,4.5,0.002,1e+21,100000000000000000000,0.000001,1e-7,0,333333333.3333333,100]""")]
    [InlineData("\"\\u00e9\\u0007\\n\\\"/\"", "\"é\\u0007\\n\\\"/\"")]
    [InlineData("""{"\u20ac":1,"\r":2,"1":3,"\u0080":4}""", "{\"\\r\":2,\"1\":3,\"\u0080\":4,\"€\":1}")]
    public void Canonicalize_Rfc8785Cases_ProduceTheCanonicalText(string input, string expected)
    {
        var canonical = Encoding.UTF8.GetString(EvidenceJson.Canonicalize(input));

        Assert.Equal(expected, canonical);
    }

    [Theory]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(123456789012345680000.0, "123456789012345680000")]
    [InlineData(0.1, "0.1")]
    [InlineData(-1.5e-7, "-1.5e-7")]
    public void FormatNumber_EcmaScriptEdgeCases_MatchNumberToString(double value, string expected)
    {
        Assert.Equal(expected, EvidenceJson.FormatNumber(value));
    }

    [Fact]
    public void Canonicalize_DuplicateKey_Rejected()
    {
        var e = Assert.Throws<EvidenceFormatException>(() => EvidenceJson.Canonicalize("""{"a":1,"a":2}"""));

        Assert.Equal(EvidenceError.DuplicateKey, e.Error);
    }

    [Theory]
    [InlineData("""{"a":1,}""")]
    [InlineData("""{"a":1} // c""")]
    [InlineData("""{"a":1}{"b":2}""")]
    [InlineData("""{"a":""")]
    public void ParseStrict_NotPlainJson_MalformedJson(string json)
    {
        var e = Assert.Throws<EvidenceFormatException>(() => EvidenceJson.ParseStrict(json).Dispose());

        Assert.Equal(EvidenceError.MalformedJson, e.Error);
    }

    [Fact]
    public void Deserialize_TruncatedDocument_MalformedJson()
    {
        var e = Assert.Throws<EvidenceFormatException>(() => EvidenceJson.Deserialize<AuditCheckpoint>("""{"treeSize":1,"""u8));

        Assert.Equal(EvidenceError.MalformedJson, e.Error);
    }

    [Theory]
    [InlineData("""{"treeSize":1,"rootHash":"x","timestamp":"2025-01-01T00:00:00Z","extra":1}""")]
    [InlineData("""{"treeSize":1,"rootHash":"x"}""")]
    [InlineData("""{"treeSize":"1","rootHash":"x","timestamp":"2025-01-01T00:00:00Z"}""")]
    [InlineData("""{"treeSize":1,"rootHash":null,"timestamp":"2025-01-01T00:00:00Z"}""")]
    public void Deserialize_RecordSchemaBroken_SchemaViolation(string json)
    {
        var e = Assert.Throws<EvidenceFormatException>(() => EvidenceJson.Deserialize<AuditCheckpoint>(Encoding.UTF8.GetBytes(json)));

        Assert.Equal(EvidenceError.SchemaViolation, e.Error);
    }
}
