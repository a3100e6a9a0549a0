# compareVersions compares the components produced by splitVersion.
let v = [ "1.0" "1.0.1" "1.0pre" "1.0a" "0.9" "1.10" "1.2" ]; in
[ (map builtins.splitVersion v) (builtins.sort (a: b: builtins.compareVersions a b < 0) v) ]
