"thing via the sub/dir= prefix"
