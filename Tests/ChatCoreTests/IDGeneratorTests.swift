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
}
