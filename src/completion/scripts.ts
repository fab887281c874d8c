/** Shell scripts printed by `completion SHELL`; each asks `kubectl-milvus __complete` for candidates. */
const BIN = 'kubectl-milvus';

export function bashScript(): string {
  return `# bash completion for ${BIN} (and "kubectl milvus" through kubectl_complete-milvus)
_kubectl_milvus_complete() {
  local cur words out directive
  cur="\${COMP_WORDS[COMP_CWORD]}"
  words=("\${COMP_WORDS[@]:1:COMP_CWORD}")
  [[ \${#words[@]} -eq 0 || "\${COMP_LINE: -1}" == " " && "\${words[-1]}" != "" ]] && words+=("")
  out=$(${BIN} __complete "\${words[@]}" 2>/dev/null) || return
  directive=\${out##*:}
  out=$(printf '%s\\n' "$out" | sed '$d' | cut -f1)
  COMPREPLY=( $(compgen -W "$out" -- "$cur") )
  [[ $directive == 4 ]] && compopt +o default 2>/dev/null
  return 0
}
complete -o default -F _kubectl_milvus_complete ${BIN}
`;
}

export function zshScript(): string {
  return `#compdef ${BIN}
# zsh completion for ${BIN}
_kubectl_milvus() {
  local -a lines candidates
  lines=("\${(@f)$(${BIN} __complete "\${words[@]:1:$((CURRENT-1))}" 2>/dev/null)}")
  candidates=("\${(@)lines[1,-2]}")
  candidates=("\${(@)candidates//\t/:}")
  _describe 'kubectl-milvus' candidates
}
compdef _kubectl_milvus ${BIN}
`;
}

export function fishScript(): string {
  return `# fish completion for ${BIN}
function __kubectl_milvus_complete
  set -l words (commandline -opc)[2..-1] (commandline -ct)
  ${BIN} __complete $words 2>/dev/null | string match -v -r '^:[0-9]+$'
end
complete -c ${BIN} -f -a '(__kubectl_milvus_complete)'
`;
}
