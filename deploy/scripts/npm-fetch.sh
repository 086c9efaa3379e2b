# Sourced by the corpus refresh scripts: npm_fetch unpacks an npm package into a folder.
# Needs $tmp (a scratch folder the caller removes) and the tools checked by need_tools.

# need_tools <script> <tool>...: fail unless every tool is on PATH.
need_tools() {
	local script=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$script: $tool is required" >&2; exit 1; }
	done
}

# npm_fetch <spec> <dir>: npm pack a package spec and unpack it into <dir>; prints its
# version.
npm_fetch() {
	local spec=$1 dir=$2
	mkdir -p "$dir"
	(cd "$dir" && npm pack --silent "$spec" >/dev/null 2>&1)
	tar -xzf "$dir"/*.tgz -C "$dir"
	node -e 'process.stdout.write(require(process.argv[1]).version)' "$dir/package/package.json"
}
