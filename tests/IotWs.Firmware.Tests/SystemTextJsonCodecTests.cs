using System.Collections;
using System.Text;
using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests;

public class SystemTextJsonCodecTests
{
    private readonly SystemTextJsonCodec _json = new();

    [Fact]
    public void Numbers_are_typed_like_nanoframework_json()
    {
        var m = _json.Parse("""{"a":23,"b":23.5,"c":3000000000,"d":2e3,"e":-4,"f":23.0}""")!;

        Assert.IsType<int>(m["a"]);
        Assert.IsType<double>(m["b"]);
        Assert.IsType<long>(m["c"]);
        Assert.IsType<double>(m["d"]);
        Assert.Equal(-4, m["e"]);
        Assert.IsType<double>(m["f"]);
    }

    [Fact]
    public void Objects_become_hashtables_and_arrays_array_lists()
    {
        var m = _json.Parse("""{"data":{"x":[1,"two",true,null,{"y":false}]}}""")!;

        var list = (ArrayList)((Hashtable)m["data"]!)["x"]!;
        Assert.Equal(1, list[0]);
        Assert.Equal("two", list[1]);
        Assert.Equal(true, list[2]);
        Assert.Null(list[3]);
        Assert.Equal(false, ((Hashtable)list[4]!)["y"]);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    [InlineData("")]
    public void Text_that_is_not_a_json_object_parses_to_null(string text)
    {
        Assert.Null(_json.Parse(text));
    }

    [Fact]
    public void Writes_raw_utf8_without_escaping_slashes_html_or_non_ascii()
    {
        var text = _json.Serialize(new Hashtable { ["s"] = "Küche <1> & 'x' + a/b ✓" });

        Assert.Equal("""{"s":"Küche <1> & 'x' + a/b ✓"}""", text);
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\/", text, StringComparison.Ordinal);
        Assert.Equal("Küche", Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text)).Substring(6, 5));
    }

    [Fact]
    public void Quotes_backslashes_and_control_characters_are_still_escaped()
    {
        var text = _json.Serialize(new Hashtable { ["s"] = "a\"b\\c\nd\te\u0001" });

        Assert.Equal("""{"s":"a\"b\\c\nd\te\u0001"}""", text);
        Assert.Equal("a\"b\\c\nd\te\u0001", _json.Parse(text)!["s"]);
    }

    [Fact]
    public void Nan_and_infinity_are_written_as_null()
    {
        var text = _json.Serialize(new Hashtable { ["t"] = double.NaN, ["h"] = double.PositiveInfinity });

        var back = _json.Parse(text)!;
        Assert.Null(back["t"]);
        Assert.Null(back["h"]);
    }

    [Fact]
    public void Messages_round_trip_with_their_types()
    {
        var message = new Hashtable
        {
            ["seq"] = 42L,
            ["temperature"] = 21.5,
            ["whole"] = 20.0,
            ["ok"] = true,
            ["list"] = new ArrayList { 1, "x" },
            ["nested"] = new Hashtable { ["k"] = "v" },
        };

        var back = _json.Parse(_json.Serialize(message))!;

        Assert.Equal(42, back["seq"]);
        Assert.Equal(21.5, back["temperature"]);
        Assert.Equal(20, back["whole"]);
        Assert.Equal(true, back["ok"]);
        Assert.Equal("v", ((Hashtable)back["nested"]!)["k"]);
    }
}
