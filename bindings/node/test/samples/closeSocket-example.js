Taro.connectSocket({
  url: 'test.php'
})

//Pay attention to the operation sequence
//If you call  wx.closeSocket before the  wx.onSocketOpen callback for  wx.connectSocket ,  WebSocket  connection cannot be disabled.
//You can only call wx.closeSocket to disable the connection when WebSocket is enabled.
Taro.onSocketOpen(function() {
  Taro.closeSocket()
})
Taro.onSocketClose(function(res) {
  console.log('WebSocket Disabled!')
})
