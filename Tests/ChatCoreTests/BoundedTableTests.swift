import ChatCore
import Testing

@Suite struct BoundedTableTests {
    @Test func aNewKeyFindsRoomByDroppingWhatMayGo() {
        var table = BoundedTable<String, Int>(capacity: 3)
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            let room = table.makeRoom(for: key, droppingWhere: { _ in true })
            #expect(room, "below capacity there is room")
            table[key] = value
        }
        #expect(table.count == 3, "and nothing was dropped for it")
        let held = table.makeRoom(for: "b", droppingWhere: { _ in true })
        #expect(held && table.count == 3, "a key already held has room, and nothing goes for it")
        let new = table.makeRoom(for: "d", droppingWhere: { $0 < 3 })
        #expect(new && table.count == 1 && table["c"] == 3, "only what the caller let go went")
        table["d"] = 4
        #expect(table["d"] == 4 && table.count == 2)
    }

    @Test func whenNothingMayGoTheCallerDecides() {
        var table = BoundedTable<String, Int>(capacity: 2)
        for key in ["a", "b"] {
            _ = table.makeRoom(for: key, droppingWhere: { _ in false })
            table[key] = 0
        }
        let full = table.makeRoom(for: "c", droppingWhere: { _ in false })
        #expect(!full && table.count == 2 && table["c"] == nil, "full, nothing may go, nothing changed")
        table.removeAll()
        let empty = table.makeRoom(for: "c", droppingWhere: { _ in false })
        #expect(empty && table.count == 0)
        table["c"] = 1
        table["c"] = nil
        #expect(table.count == 0)
    }

    @Test func theCapacityIsAtLeastOne() {
        var table = BoundedTable<Int, Int>(capacity: 0)
        #expect(table.capacity == 1)
        _ = table.makeRoom(for: 1, droppingWhere: { _ in false })
        table[1] = 1
        let room = table.makeRoom(for: 2, droppingWhere: { _ in false })
        #expect(!room)
    }
}
