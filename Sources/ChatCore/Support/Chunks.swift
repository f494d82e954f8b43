extension Collection {
    /// The collection cut into consecutive parts of `size` elements, the last one shorter when the count
    /// is not a multiple (none for an empty collection). For anything that bounds one call's size: a
    /// statement's parameters, an event's payload. `size` must be positive.
    public func chunks(of size: Int) -> [SubSequence] {
        precondition(size > 0, "a chunk holds at least one element")
        var parts: [SubSequence] = []
        var start = startIndex
        while start != endIndex {
            let end = index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex
            parts.append(self[start..<end])
            start = end
        }
        return parts
    }
}
