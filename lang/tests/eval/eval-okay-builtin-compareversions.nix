# corpus: json
[
  (builtins.compareVersions "1.0" "2.3")
  (builtins.compareVersions "2.1" "2.3")
  (builtins.compareVersions "2.3" "2.3")
  (builtins.compareVersions "2.5" "2.3")
  (builtins.compareVersions "3.1" "2.3")
  (builtins.compareVersions "2.3.1" "2.3")
  (builtins.compareVersions "2.3.1" "2.3a")
  (builtins.compareVersions "2.3pre1" "2.3")
  (builtins.compareVersions "2.3pre3" "2.3pre12")
  (builtins.compareVersions "2.3a" "2.3c")
  (builtins.compareVersions "2.3pre1" "2.3c")
  (builtins.compareVersions "2.3pre1" "2.3q")
  (builtins.compareVersions "1.10" "1.9")
  (builtins.compareVersions "" "0")
]
