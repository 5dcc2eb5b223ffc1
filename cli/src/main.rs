fn main() -> std::process::ExitCode {
    ferry_cli::main()
}
