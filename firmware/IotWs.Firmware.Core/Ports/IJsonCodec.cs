using System.Collections;

namespace IotWs.Firmware.Core
{
    /// <summary>JSON to and from Hashtable (objects) and ArrayList (arrays), as nanoFramework.Json does it.</summary>
    /// <remarks>
    /// Numbers come back as int or long when written without '.' or exponent, otherwise double;
    /// read them through <see cref="WireValues"/>, never by cast.
    /// </remarks>
    public interface IJsonCodec
    {
        /// <summary>Writes a message as JSON text.</summary>
        string Serialize(Hashtable message);

        /// <summary>Parses a JSON object; null when the text is not valid JSON or not an object.</summary>
        Hashtable Parse(string text);
    }
}
