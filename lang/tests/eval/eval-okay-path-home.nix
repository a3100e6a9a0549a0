# ~/ paths resolve against $HOME (set by regenerate.sh): only the type is printed.
[ (builtins.typeOf ~/some-file) (baseNameOf ~/some-file) ]
