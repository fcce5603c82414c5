pub fn run(_hosts: usize, _keep: bool) -> anyhow::Result<()> { anyhow::bail!("todo") }
