# lib.filesystem and lib.path: the reference documentation's examples, on this directory.
let
  lib = import ../lib;
  inherit (lib) path;
  rel = p: path.removePrefix ./. p;
in
[
  (map rel (lib.filesystem.listFilesRecursive ./data))
  (lib.filesystem.pathType ./data)
  (lib.filesystem.pathType ./data/lib.txt)
  (lib.filesystem.pathIsDirectory ./data)
  (lib.filesystem.pathIsDirectory ./data/lib.txt)
  (lib.filesystem.pathIsRegularFile ./data/lib.txt)
  (lib.filesystem.pathIsRegularFile ./data/missing)
  (rel (lib.filesystem.locateDominatingFile "lib[.]json" ./data/sub/deep.txt).path)
  (rel (path.append ./. "data/sub"))
  (path.hasPrefix /foo /foo/bar)
  (path.hasPrefix /foo /foobar)
  (path.hasPrefix /. /foo)
  (path.removePrefix /foo /foo/bar/baz)
  (path.removePrefix /foo /foo)
  (path.splitRoot /foo/bar)
  (path.subpath.isValid null)
  (path.subpath.isValid "")
  (path.subpath.isValid "/foo")
  (path.subpath.isValid "../foo")
  (path.subpath.isValid "foo/bar")
  (path.subpath.isValid "./foo//bar/")
  (path.subpath.join [ "foo" "bar/baz" ])
  (path.subpath.join [ "./foo" "." "bar//./baz/" ])
  (path.subpath.join [ ])
  (path.subpath.components ".")
  (path.subpath.components "./foo//bar/./baz/")
  (path.subpath.normalise "foo//bar")
  (path.subpath.normalise "foo/./bar")
  (path.subpath.normalise "foo/bar/")
  (path.subpath.normalise ".")
  (builtins.tryEval (path.subpath.normalise "foo/../bar")).success
]
