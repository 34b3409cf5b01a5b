# The fitted object: plain R data (no pointers), so saveRDS() and readRDS() keep it.

new_sygnet_fit <- function(session, spec, data, losses, per_epoch, previous, seed,
                           threads, device) {
  model <- native(rs_session_model(session))
  info <- native(rs_model_info(model))
  private <- !is.null(spec$privacy)
  offset <- if (is.null(previous)) 0L else nrow(previous$history)
  epoch <- if (nrow(losses)) (seq_len(nrow(losses)) - 1L) %/% per_epoch + 1L else integer()
  history <- data.frame(
    epoch = offset + sort(unique(epoch)),
    critic_loss = as.numeric(tapply(losses[, 1L], epoch, mean)),
    generator_loss = as.numeric(tapply(losses[, 2L], epoch, mean)),
    score_gap = as.numeric(tapply(losses[, 3L], epoch, mean))
  )
  if (!is.null(previous)) history <- rbind(previous$history, history)
  spec$epochs <- nrow(history)
  structure(
    list(
      spec = spec,
      model = model,
      template = if (private) private_template(data, spec$privacy) else data[0L, , drop = FALSE],
      n = if (private) public_rows(spec$privacy, data) else nrow(data),
      history = history,
      seeds = c(previous$seeds, seed),
      threads = threads,
      device = device,
      interrupted = FALSE,
      check = NULL,
      privacy = info$privacy,
      versions = list(sygnet = as.character(utils::packageVersion("sygnet")),
                      format = info$format_version)
    ),
    class = "sygnet_fit"
  )
}
