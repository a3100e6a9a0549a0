let pkg = "hello"; in
''
  #!/bin/sh
  set -e
  if [ -n "$HOME" ]; then
    echo "''${HOME}" ${pkg}
  fi
''
