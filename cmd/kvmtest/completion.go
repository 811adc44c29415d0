package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

var completionCmd = &Command{
	Name:      "completion",
	UsageLine: "completion bash|zsh|fish",
	Short:     "print a shell completion script (bash, zsh or fish)",
	Long: `
Completion prints a script that makes the shell complete kvmtest's
command lines: commands, flags, the values of flags that take one of a
few words (--accel, --format, --progress), the shipped matrices' names
and files where a command takes a matrix, the cell ids of the matrix on
the line (or of the default matrix) after --cell, and file names where a
command takes files or directories. The script asks kvmtest itself (a
hidden __complete command), so it stays right when kvmtest changes.

  bash   source <(kvmtest completion bash)            (in ~/.bashrc)
  zsh    source <(kvmtest completion zsh)             (in ~/.zshrc, after compinit)
         or: kvmtest completion zsh > "${fpath[1]}/_kvmtest"
  fish   kvmtest completion fish > ~/.config/fish/completions/kvmtest.fish`,
}

var completeCmd = &Command{
	Name:      "__complete",
	UsageLine: "__complete [WORD...]",
	Short:     "print the completions of a command line (for the completion scripts)",
	Long: `
__complete prints, one a line, the words that complete the last WORD of
the command line kvmtest WORD... (the last WORD is the one being typed,
"" for a new one); a line ":files" asks the shell to complete file names
as well.`,
	Hidden: true,
}

func init() {
	completionCmd.Run = runCompletion
	register(completionCmd)
	completeCmd.Run = runComplete
	register(completeCmd)
}

func runCompletion(cmd *Command, args []string) int {
	if len(args) != 1 {
		return fatalf(results.ExitBadInput, "completion: want one of bash, zsh, fish")
	}
	script, ok := completionScripts[args[0]]
	if !ok {
		return fatalf(results.ExitBadInput, "completion: %q: want one of bash, zsh, fish", args[0])
	}
	fmt.Print(script)
	return results.ExitOK
}

// runComplete is __complete. Its arguments are the words as the shell
// has them, flags among them: mainExit passes them unparsed.
func runComplete(cmd *Command, args []string) int {
	cands, files := complete(args)
	for _, c := range cands {
		fmt.Println(c)
	}
	if files {
		fmt.Println(":files")
	}
	return results.ExitOK
}

// complete returns the words that complete the last of words (the
// command line after "kvmtest"; the last word is the one being typed),
// and whether file names complete it too.
func complete(words []string) (cands []string, files bool) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	var names []string
	for n, c := range commands {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	if len(prev) == 0 {
		return matching(append(names, "help", "--help", "--version"), cur), false
	}
	if prev[0] == "help" {
		if len(prev) > 1 {
			return nil, false
		}
		return matching(names, cur), false
	}
	c, ok := commands[prev[0]]
	if !ok || c.Hidden {
		return nil, false
	}
	u := parseUsage(c)
	var pos []string
	flagVals := map[string]string{}
	valueOf, dashdash := "", false
	for i := 1; i < len(prev); i++ {
		a := prev[i]
		switch {
		case dashdash || a == "-" || !strings.HasPrefix(a, "-"):
			pos = append(pos, a)
		case a == "--":
			dashdash = true
		default:
			name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if hasVal || isBoolFlag(c.Flags, name) || c.Flags.Lookup(name) == nil {
				flagVals[name] = val
				continue
			}
			if i+1 < len(prev) {
				flagVals[name] = prev[i+1]
				i++
			} else {
				valueOf = name // cur is this flag's value
			}
		}
	}
	prefix, value := "", cur
	if valueOf == "" && !dashdash && strings.HasPrefix(cur, "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(cur, "-"), "=")
		if !hasVal {
			var names []string
			c.Flags.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
			return matching(append(names, "--help"), cur), false
		}
		valueOf, prefix, value = name, cur[:len(cur)-len(val)], val
	}
	matrix := func() string {
		if m, ok := flagVals["matrix"]; ok {
			return m
		}
		if len(u.pos) > 0 && isMatrixArg(u.pos[0]) && len(pos) > 0 {
			return pos[0]
		}
		return ""
	}
	if valueOf != "" {
		cands, files = argValues(u.flags[valueOf], valueOf, matrix)
		cands = matching(cands, value)
		for i := range cands {
			cands[i] = prefix + cands[i]
		}
		return cands, files
	}
	if dashdash && len(pos) == 0 {
		pos = []string{""} // boot's PROGRAM after "--"
	}
	if len(u.pos) == 0 {
		return nil, false
	}
	d := u.pos[len(u.pos)-1]
	if len(pos) < len(u.pos) {
		d = u.pos[len(pos)]
	} else if !strings.HasSuffix(d, "...") {
		return nil, false
	}
	cands, files = argValues(d, "", matrix)
	return matching(cands, cur), files
}

// usage is what a command's usage line says of its arguments: the
// positional ones in order (MATRIX|NAME, DIR..., ls|gc|path), and what
// each flag's value is (auto|kvm|tcg, DIR, GLOB, N).
type usage struct {
	pos   []string
	flags map[string]string
}

// parseUsage reads c's UsageLine.
func parseUsage(c *Command) usage {
	u := usage{flags: map[string]string{}}
	f := strings.Fields(strings.NewReplacer("[", " ", "]", " ", "(", " ", ")", " ").Replace(c.UsageLine))
	for i := 1; i < len(f); i++ {
		t := f[i]
		switch {
		case t == "|" || t == "--":
		case strings.HasPrefix(t, "-"):
			name := strings.TrimLeft(t, "-")
			if strings.Contains(name, "=") || isBoolFlag(c.Flags, name) || i+1 >= len(f) {
				continue
			}
			u.flags[name] = f[i+1]
			i++
		default:
			u.pos = append(u.pos, t)
		}
	}
	return u
}

// argValues returns the words an argument described as d in a usage line
// can be (the value of the flag named flag, when it is one), and whether
// it is a file name.
func argValues(d, flag string, matrix func() string) ([]string, bool) {
	d = strings.TrimSuffix(d, "...")
	switch {
	case flag == "cell":
		return cellIDs(matrix()), false
	case isMatrixArg(d):
		return matrixNames(), true
	case flag == "accel":
		return []string{"auto", "kvm", "tcg"}, false
	case strings.Contains(d, "|") && strings.ToLower(d) == d:
		return strings.Split(d, "|"), false
	}
	switch d {
	case "DIR", "DIR_A", "DIR_B", "FILE", "PATH", "PROGRAM", "ARGS":
		return nil, true
	}
	switch flag {
	case "config", "modules", "rootfs", "kernel", "out", "resume":
		return nil, true
	}
	return nil, false
}

func isMatrixArg(d string) bool { return strings.HasPrefix(d, "MATRIX") }

// matrixNames are the shipped matrices' names and aliases.
func matrixNames() []string {
	names := matrices.Builtin()
	for _, a := range matrices.Aliases() {
		names = append(names, a[0])
	}
	return names
}

// cellIDs are the cell ids of the matrix arg (a file or a shipped
// matrix's name; "" for the default), none when it does not load.
func cellIDs(arg string) []string {
	cache, err := openCache()
	if err != nil {
		return nil
	}
	file, _, err := resolveMatrix(cache, arg)
	if err != nil {
		return nil
	}
	m, err := matrices.Load(file)
	if err != nil {
		return nil
	}
	var ids []string
	for _, c := range m.Cells() {
		ids = append(ids, c.ID)
	}
	return ids
}

func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// matching returns the words that start with prefix, sorted, once each.
func matching(words []string, prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range words {
		if strings.HasPrefix(w, prefix) && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// The scripts pass the words of the line up to the cursor to kvmtest
// __complete (the one typed last, "" after a space) and offer what it
// prints, and file names when it prints ":files".
var completionScripts = map[string]string{
	"bash": `# bash completion for kvmtest; load with: source <(kvmtest completion bash)
_kvmtest() {
	local line=${COMP_LINE:0:COMP_POINT} words cur c i files= IFS
	# The words as typed (bash splits --flag=value at "=").
	read -ra words <<<"$line"
	[[ -z $line || $line == *[[:space:]] ]] && words+=("")
	cur=${words[${#words[@]}-1]}
	COMPREPLY=()
	IFS=$'\n'
	for c in $("${words[0]/#\~/$HOME}" __complete "${words[@]:1}" 2>/dev/null); do
		if [[ $c == :files ]]; then files=1; else COMPREPLY+=("$c"); fi
	done
	if [[ -n $files ]]; then
		local pre= val=$cur
		if [[ $cur == -*=* ]]; then pre=${cur%%=*}=; val=${cur#*=}; fi
		for c in $(compgen -f -- "$val"); do COMPREPLY+=("$pre$c"); done
		compopt -o filenames 2>/dev/null
	fi
	# bash replaces only the part of the word after its last "=" or ":".
	local head=${cur%"${COMP_WORDS[COMP_CWORD]}"}
	if [[ -n $head && $head != "$cur" ]]; then
		for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$head"}; done
	fi
}
complete -F _kvmtest kvmtest
`,
	"zsh": `#compdef kvmtest
# zsh completion for kvmtest; load with: source <(kvmtest completion zsh)
# (after compinit), or save as _kvmtest in a directory of $fpath.
_kvmtest() {
	local -a cands
	local c files=0
	for c in "${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
		if [[ $c == :files ]]; then files=1; elif [[ -n $c ]]; then cands+=("$c"); fi
	done
	(( ${#cands} )) && compadd -- "${cands[@]}"
	(( files )) && _files
	return 0
}
if [[ $funcstack[1] == _kvmtest ]]; then
	_kvmtest "$@"
else
	compdef _kvmtest kvmtest
fi
`,
	"fish": `# fish completion for kvmtest; save as ~/.config/fish/completions/kvmtest.fish
function __kvmtest_complete
	set -l words (commandline -opc)
	set -l cur (commandline -ct)
	for c in ($words[1] __complete $words[2..-1] "$cur" 2>/dev/null)
		if test "$c" = :files
			__fish_complete_path "$cur"
		else
			echo $c
		end
	end
end
complete -c kvmtest -f -a '(__kvmtest_complete)'
`,
}
