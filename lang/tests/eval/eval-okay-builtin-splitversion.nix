# corpus: json
map builtins.splitVersion [ "1.2.3" "2.3pre1" "1.0-rc2" "1..2" "" "abc" "1_2-3" "10.0a" ]
