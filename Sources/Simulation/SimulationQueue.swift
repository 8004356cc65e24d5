/// A min-heap of timed happenings, ordered by time and then by insertion, so that equal times stay in a
/// deterministic order.
///
/// The heap moves only small keys; the happenings wait in slots of their own (reused once popped), so that a
/// push or pop copies each happening once, however deep the heap.
struct SimulationQueue<Element> {
    private struct Key {
        var time: UInt64
        var order: UInt64
        var slot: Int32
    }

    private var heap: [Key] = []
    private var slots: [Element?] = []
    private var freeSlots: [Int32] = []
    private var nextOrder: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ element: Element, at time: UInt64) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(free)] = element
        } else {
            slot = Int32(slots.count)
            slots.append(element)
        }
        heap.append(Key(time: time, order: nextOrder, slot: slot))
        nextOrder += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: UInt64, element: Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        let element = slots[Int(top.slot)].take()!
        freeSlots.append(top.slot)
        return (top.time, element)
    }

    private func less(_ a: Key, _ b: Key) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}
