# corpus: json
{ emptySet = { }; emptyList = [ ]; emptyString = ""; nested = [ [ ] [ { } ] ]; }
