using IotWs.Gateway.Storage;

namespace IotWs.Gateway.Readings;

/// <summary>
/// Hands a group of store requests to storage as rows and writes the outcomes back to their entries, so storage
/// never sees the readings feature's types. One per writer thread; its lists are reused from commit to commit.
/// </summary>
internal sealed class StoreBatch
{
    private readonly WriteBatch _rows = new();
    private readonly List<ReadingEntry> _readings = [];
    private readonly List<EventEntry> _events = [];

    /// <summary>Commits every pending entry of the requests in one transaction; throws (and changes no entry) when storage could not.</summary>
    public void Commit(IReadingStore store, IReadOnlyList<StoreRequest> requests)
    {
        _rows.Clear();
        _readings.Clear();
        _events.Clear();
        foreach (var request in requests)
        {
            foreach (var r in request.Readings)
            {
                if (r.Status != EntryStatus.Pending) continue;
                _readings.Add(r);
                _rows.Readings.Add(new ReadingWrite(r.DeviceId, r.BootId, r.Seq, r.Timestamp, r.DeviceTimestamp, r.Temperature, r.Humidity,
                    r.StoredSensorId, r.StoredLocation, r.StoredExtra));
            }
            if (request.Event is { Status: EntryStatus.Pending } e)
            {
                _events.Add(e);
                _rows.Events.Add(new EventWrite(e.Timestamp, e.DataType, e.ClientId, e.Principal, e.DeviceId, e.BootId, e.Seq, e.StoredDataJson));
            }
        }
        try
        {
            store.Commit(_rows);
            for (var i = 0; i < _readings.Count; i++)
            {
                var outcome = _rows.ReadingOutcomes[i];
                _readings[i].Status = outcome.Duplicate ? EntryStatus.Duplicate : EntryStatus.Stored;
                _readings[i].InsertId = outcome.InsertId;
            }
            for (var i = 0; i < _events.Count; i++)
            {
                _events[i].Status = EntryStatus.Stored;
                _events[i].InsertId = _rows.EventIds[i];
            }
        }
        finally
        {
            // The entries are the caller's: hold no reference to them after the commit.
            _readings.Clear();
            _events.Clear();
        }
    }
}
