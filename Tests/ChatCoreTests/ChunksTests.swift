import ChatCore
import Testing

@Suite struct ChunksTests {
    @Test func partsAreConsecutiveFullSizedAndTheLastHoldsTheRest() {
        let numbers = Array(1...7)
        #expect(numbers.chunks(of: 3).map(Array.init) == [[1, 2, 3], [4, 5, 6], [7]])
        #expect(numbers.chunks(of: 7).map(Array.init) == [numbers])
        #expect(numbers.chunks(of: 100).map(Array.init) == [numbers])
        #expect(numbers.chunks(of: 1).count == 7)
        #expect([Int]().chunks(of: 3).isEmpty)
        // Any collection, not only arrays.
        #expect("abcde".chunks(of: 2).map(String.init) == ["ab", "cd", "e"])
        #expect(Array(Array(0..<1_201).chunks(of: 500).map(\.count)) == [500, 500, 201])
    }
}
