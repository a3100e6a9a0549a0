# corpus: json
let k = "b"; in
{ ${"a" + "b"} = 1; "quoted" = 2; "${k}c" = 3; ${k} = 4; }
