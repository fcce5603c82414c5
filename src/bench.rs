pub fn tables(_json: bool, _quick: bool) -> anyhow::Result<()> {
    anyhow::bail!("wip")
}
