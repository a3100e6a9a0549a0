# `.` matches newlines in POSIX ERE.
[ (builtins.match "a.b" "a\nb") (builtins.match "(.*)\n(.*)" "l1\nl2") ]
