import ChatCore
import Testing

@Suite struct IDGeneratorTests {
    static let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    @Test func idsAreTheirPrefixAndTwentyTwoBase62Characters() {
        let ids = RandomIDGenerator()
        for id in [ids.conversationID().rawValue, ids.messageID().rawValue, ids.supportRequestID().rawValue] {
            #expect(id.count == 24)
            #expect(["c_", "m_", "s_"].contains(String(id.prefix(2))))
            #expect(id.dropFirst(2).allSatisfy { Self.alphabet.contains($0) }, "\(id)")
        }
        #expect(RandomIDGenerator.token(length: 5).count == 5)
    }

    @Test func tokensAreDistinctAndEveryCharacterEquallyLikely() {
        let tokens = (0..<20_000).map { _ in RandomIDGenerator.token() }
        #expect(Set(tokens).count == tokens.count)
        var counts: [Character: Int] = [:]
        for token in tokens { for character in token { counts[character, default: 0] += 1 } }
        // 440,000 characters: about 7,097 of each, with a standard deviation near 83; a bias as small
        // as keeping the bytes of 248 and above (which favours the first eight characters by a quarter)
        // lands far outside ±10 %.
        let expected = Double(tokens.count * 22) / 62
        #expect(Set(counts.keys) == Self.alphabet)
        #expect(counts.values.allSatisfy { abs(Double($0) - expected) < expected * 0.1 }, "\(counts.sorted { $0.key < $1.key })")
    }

    @Test func secureRandomFillsTheWholeBufferAnew() {
        var first = [UInt8](repeating: 0, count: 300)
        var second = first
        SecureRandom.fill(&first)
        SecureRandom.fill(&second)
        #expect(first != second)
        // Every byte written: no run of zeros the size of a word anywhere.
        for bytes in [first, second] { #expect(!(0...(bytes.count - 8)).contains { bytes[$0..<$0 + 8].allSatisfy { $0 == 0 } }) }
        #expect(RandomIDGenerator.token(length: 100).count == 100)
    }

    @Test func thePoolHandsOutFreshUniformBytesAcrossItsRefills() {
        // 256 KiB in requests of 37 bytes cross the pool's end dozens of times; a byte handed out twice
        // would be a wiped zero, so no run of eight zeros may appear, and each value comes about 1,024
        // times (standard deviation near 32).
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 37)
        while all.count < 256 * 1_024 {
            SecureRandom.fill(&chunk)
            all += chunk
        }
        #expect(!stride(from: 0, to: all.count - 8, by: 1).contains { index in all[index..<index + 8].allSatisfy { $0 == 0 } })
        var counts = [Int](repeating: 0, count: 256)
        for byte in all { counts[Int(byte)] += 1 }
        let expected = Double(all.count) / 256
        #expect(counts.allSatisfy { abs(Double($0) - expected) < expected * 0.2 }, "\(counts)")
        // A request as large as a quarter of the pool goes straight to the system.
        var large = [UInt8](repeating: 0, count: SecureRandom.poolSize)
        SecureRandom.fill(&large)
        #expect(!stride(from: 0, to: large.count - 8, by: 1).contains { index in large[index..<index + 8].allSatisfy { $0 == 0 } })
        // The generator over the pool reaches every value of a small range.
        var generator = SecureRandom.Generator()
        #expect(Set((0..<200).map { _ in Int64.random(in: 1...3, using: &generator) }) == [1, 2, 3])
    }

    @Test func callersOnManyThreadsNeverShareBytes() async {
        let tokens = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in RandomIDGenerator.token() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(tokens.count == 16_000)
        #expect(Set(tokens).count == tokens.count)
    }
}
