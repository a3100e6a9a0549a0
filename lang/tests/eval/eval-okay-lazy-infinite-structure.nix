# An infinite (lazy) structure is fine as long as only a finite part is forced.
let nats = n: { head = n; tail = nats (n + 1); }; s = nats 0; in
[ s.head s.tail.head s.tail.tail.tail.head ]
